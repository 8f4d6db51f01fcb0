"""The playground: train and watch networks live in the browser, on neuralab's own engine.

``neuralab playground`` starts it (the extra ``pip install "neuralab[playground]"`` brings the
web server). The modules:

* :mod:`~neuralab.playground.protocol` the state fields, the messages and their limits;
* :mod:`~neuralab.playground.session` a page's training session, a plain Python object;
* :mod:`~neuralab.playground.frames` the binary frames (quantized heatmaps);
* :mod:`~neuralab.playground.export` model file, data CSV, ``neuralab train`` TOML, snippet;
* ``neuralab.playground.connection`` one page's connection to its session (the message
  handler), whatever carries the messages;
* :mod:`~neuralab.playground.server` the Starlette app (routes and one WebSocket handler);
* :mod:`~neuralab.playground.cli` the command;
* :mod:`~neuralab.playground.notebook` ``nl.playground.show()``, the page in a notebook;
* ``neuralab.playground.widget`` that page as a Jupyter widget on the kernel's own channel.

Importing this package imports neither Starlette nor uvicorn; only ``server`` and ``cli.main``
need them. The core library never imports this package.
"""

from .notebook import show, url  # noqa: E402,F401  (neither imports the web server)

__all__ = ["show", "url"]
