"""Style analogies: one drawn digit in, all ten digits out in the same hand (a conditional VAE).

* :mod:`~digit_detector.style.crops`: digit crops (drawn like the app's canvas) and turning any drawing
  into the model's square crop;
* :mod:`~digit_detector.style.model`: the conditional VAE, and its weights on disk;
* :mod:`~digit_detector.style.analogy`: drawing -> detected digit -> style -> the row of ten digits;
* :mod:`~digit_detector.style.metrics`: slant, stroke thickness, readability by the detector;
* :mod:`~digit_detector.style.train`, :mod:`~digit_detector.style.evaluate`: training and measuring the
  model (the ``style`` commands are in :mod:`digit_detector.cli.style`).
"""
