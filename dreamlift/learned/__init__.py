"""Learned priors trained here on toy-world renders, saved in the layouts of real checkpoints.

* :mod:`~dreamlift.learned.tokenizer`: a real ``CLIPTokenizer`` built from a generated
  vocabulary (every toy-world word is one token).
* :mod:`~dreamlift.learned.models`: the tiny diffusers/transformers components, each
  with its typed config.
* :mod:`~dreamlift.learned.data`: the training renders (the toy prior's cameras, lights
  and cache), captions with DreamFusion's view suffixes, view pairs with their pose.
* :mod:`~dreamlift.learned.checkpoint`: resumable training state (safetensors + JSON).
* :mod:`~dreamlift.learned.train`: the loop: the VAE first, then the UNet on its latents.
* :mod:`~dreamlift.learned.export`: the final folder, Stable Diffusion's diffusers layout
  (``text``) or Zero-1-to-3's (``view``), written whole or not at all.

``dreamlift train-prior text|view --out DIR`` is the command; the model it writes,
``DIR/model``, loads with ``--prior stable-diffusion --model DIR/model`` or
``--prior zero123 --model DIR/model``.
"""

SIZE_NAMES = ("default", "tiny")
"""The named component sizes (``--size``; :data:`dreamlift.learned.models.SIZES`), here so the command line needs no torch."""
