"""hls4ml: a Keras 3 or QKeras model to an HLS project, C-simulated for parity, synthesized when
the vendor tool is present.

Conversion
    Keras 3 models go through hls4ml's Keras-3 parser; tf-keras and QKeras models through its
    Keras-2 parser, which hls4ml 1.3 picks only when ``import keras`` is Keras 2 -- so ``keras``
    is made to resolve to ``tf_keras`` for the duration of the conversion and restored after
    (:func:`export.common.keras_module_as`). hls4ml reserves the layer name ``input``: a model
    whose input layer is called so (every zoo model) is converted through a renamed copy.

Precision (what makes the firmware agree with Keras)
    ``ap_fixed<16,6>`` everywhere is not a parity strategy. Instead, per layer (``granularity="name"``):

    * QKeras models: the quantizers' types, as ``config_from_keras_model`` reads them; the
      outputs of quantized Dense/Conv layers stay ``auto`` (hls4ml infers an exact accumulator).
    * Everything else: ranges profiled on calibration data from the training split -- integer
      bits so that the largest magnitude seen fits (plus ``headroom_bits``), the rest of a
      ``width``-bit word fractional; weights and biases sized the same way from their values
      (after hls4ml's own rewrites, e.g. batch-norm folding); accumulators ``auto`` (exact).
    * Softmax: the ``stable`` implementation normalizes by ``x_max - x_i``, which needs one
      integer bit more than the logits, so the layer feeding a softmax gets one more; the exp
      table (values in (0, 1]) gets ``ufixed<18,1>``, the sum and its inverse types are sized
      for the number of classes, and the tables have ``softmax_table_size`` entries (4096), so
      probabilities agree to about 1e-3 and the argmax is kept.
    * tanh / sigmoid tables: ``table_size`` entries (4096) of ``fixed<18,2>``.

Synthesis
    ``build()`` runs only when the backend's tool (``vitis-run`` for Vitis, ``vivado_hls`` for
    Vivado) is on PATH; its report (latency, II, LUT/FF/DSP/BRAM) goes into the manifest. Without
    it the manifest says synthesis was not run, and why -- no figures are made up.

Modules: :mod:`~export.hls.options` (HlsOptions), :mod:`~export.hls.support` (what hls4ml can
take, renaming), :mod:`~export.hls.profile` (ranges, fixed-point types),
:mod:`~export.hls.config` (the two-pass precision config, conversion), :mod:`~export.hls.project`
(export_hls: the named steps), :mod:`~export.hls.synth` (synthesis, report parsing).
"""
