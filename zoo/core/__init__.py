"""edgezoo's infrastructure, shared by every stage (it imports nothing of them).

* :mod:`~zoo.core.worlds`: the two Keras worlds (Keras 3 and tf-keras), set up before
  TensorFlow loads;
* :mod:`~zoo.core.errors`: the base of every error that is the user's to fix;
* :mod:`~zoo.core.options`: options declared once (flags, recipe keys, validation);
* :mod:`~zoo.core.io`: saving and loading models and JSON, atomically;
* :mod:`~zoo.core.introspect`: small facts about models, outputs and the installation;
* :mod:`~zoo.core.fixed_point`: fixed-point sizing; :mod:`~zoo.core.tables`: Markdown tables;
* directories edgezoo owns: :mod:`~zoo.core.paths` (reserved names, path checks),
  :mod:`~zoo.core.locks`, :mod:`~zoo.core.marker` (ownership, adopt),
  :mod:`~zoo.core.transaction` (the one replace transaction), :mod:`~zoo.core.claim`
  (claiming a directory for a command).
"""
