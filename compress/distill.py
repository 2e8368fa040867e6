"""Knowledge distillation (Hinton et al. 2015) with Keras 3's ``keras.distillation``.

Zoo classifiers end in an ``Activation("softmax", name="softmax")`` layer, and
``LogitsDistillation`` wants logits: teacher and student are therefore distilled through
sub-models that end at the *input* of their "softmax" layer (the pre-softmax logits; the
sub-model shares its layers with the full student, so training it trains the student).
The loss is

    student_loss_weight * CE(y, softmax(z_s)) + (1 - student_loss_weight) * T^2 * KL(softmax(z_t/T) || softmax(z_s/T))

(``keras.distillation.Distiller`` with ``LogitsDistillation(temperature=T, loss=KLDivergence())``;
the T^2 factor is Keras'. The loss is passed as a ``KLDivergence`` instance on purpose: with the
default string "kl_divergence", Keras 3.15 resolves a plain function, skips the softmax and
computes KL on raw logits -- the student then barely learns.) Models without a "softmax" layer (a sigmoid unit, regression, reconstruction) are
distilled on their outputs with ``FeatureDistillation(loss="mse")``.

Teacher and student must solve the same task with the same output shape and read the same
input shape (the same data set adapted the same way).
"""

from __future__ import annotations

import time

from compress.common import check_trainable, epoch_callbacks
from compress.errors import CompressionError
from training.tasks import compile_for, loss_for, targets
from zoo.core.run_config import RunConfig

SOFTMAX = "softmax"


def logits_model(model):
    """Sub-model of ``model`` ending before its "softmax" layer, or ``None`` if it has none."""
    import keras

    try:
        layer = model.get_layer(SOFTMAX)
    except ValueError:
        return None
    if layer.get_config().get("activation") != "softmax" or layer.output is not model.outputs[0]:
        return None
    return keras.Model(model.inputs, layer.input, name=f"{model.name}_logits")


def check_pair(teacher, teacher_cfg: RunConfig, student, student_cfg: RunConfig):
    """Raise a clear error unless teacher and student can be distilled (before any training)."""
    t_card = check_trainable(teacher_cfg, "distill")
    s_card = check_trainable(student_cfg, "distill")
    if t_card.task != s_card.task:
        raise CompressionError(
            f"distill: teacher {t_card.name!r} ({t_card.task}) and student {s_card.name!r} "
            f"({s_card.task}) solve different tasks."
        )
    t_in, s_in = tuple(teacher.inputs[0].shape[1:]), tuple(student.inputs[0].shape[1:])
    if t_in != s_in:
        raise CompressionError(
            f"distill: teacher {t_card.name!r} reads inputs of shape {t_in}, student {s_card.name!r} {s_in}; "
            f"build the student with input_shape={list(t_in)}."
        )
    t_out, s_out = tuple(teacher.outputs[0].shape[1:]), tuple(student.outputs[0].shape[1:])
    if t_out != s_out:
        raise CompressionError(
            f"distill: teacher output shape {t_out} differs from the student's {s_out}; "
            "they need the same output (same classes)."
        )
    return t_card, s_card


def distill(
    teacher,
    student,
    s_card,
    ds,
    *,
    temperature: float = 3.0,
    student_loss_weight: float = 0.5,
    epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    verbose: int = 0,
    on_step=None,
):
    """Train Keras 3 ``student`` from ``teacher`` on ``ds``; returns ``(student, report)``."""
    import keras

    if not temperature > 0:
        raise CompressionError(
            f"distill: temperature must be positive. Received: temperature={temperature!r}"
        )
    if not 0.0 <= student_loss_weight <= 1.0:
        raise CompressionError(
            "distill: student_loss_weight must lie in [0, 1]. "
            f"Received: student_loss_weight={student_loss_weight!r}"
        )
    t_logits, s_logits = logits_model(teacher), logits_model(student)
    if t_logits is not None and s_logits is not None:
        mode = "logits"
        # A KLDivergence *instance*: Keras 3.15's default loss="kl_divergence" resolves to the plain
        # function, which skips LogitsDistillation's softmax and compares raw logits (trains badly).
        dist_loss = keras.distillation.LogitsDistillation(
            temperature=temperature, loss=keras.losses.KLDivergence()
        )
        t_net, s_net = t_logits, s_logits
        student_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        mode = "outputs-mse"
        dist_loss = keras.distillation.FeatureDistillation(loss="mse")
        t_net, s_net = teacher, student
        student_loss = loss_for(student, s_card)
        metrics = ["accuracy"] if s_card.task == "classification" else []
    teacher.trainable = False
    distiller = keras.distillation.Distiller(
        teacher=t_net,
        student=s_net,
        distillation_losses=dist_loss,
        student_loss_weight=student_loss_weight,
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=student_loss,
        metrics=metrics,
    )
    y_tr = targets(s_card, ds.x_train, ds.y_train)
    y_va = targets(s_card, ds.x_val, ds.y_val)
    t0 = time.perf_counter()
    hist = distiller.fit(
        ds.x_train,
        y_tr,
        validation_data=(ds.x_val, y_va),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=epoch_callbacks(student, on_step, "distill", epochs),
        verbose=verbose,
        shuffle=True,
    )
    seconds = time.perf_counter() - t0
    compile_for(student, s_card, learning_rate=learning_rate)
    report = {
        "mode": mode,
        "temperature": temperature,
        "student_loss_weight": student_loss_weight,
        "epochs": epochs,
        "train_seconds": round(seconds, 2),
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
    }
    return student, report


def train_scratch(
    student,
    s_card,
    ds,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    verbose: int = 0,
    on_step=None,
):
    """The baseline: the same student, same data and epochs, trained on labels only."""
    compile_for(student, s_card, learning_rate=learning_rate)
    t0 = time.perf_counter()
    student.fit(
        ds.x_train,
        targets(s_card, ds.x_train, ds.y_train),
        validation_data=(ds.x_val, targets(s_card, ds.x_val, ds.y_val)),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=epoch_callbacks(student, on_step, "scratch baseline", epochs),
        verbose=verbose,
        shuffle=True,
    )
    return student, round(time.perf_counter() - t0, 2)
