"""Twitter/X: ``provider.py`` declares it (URLs, embed forms, settings, capture, probe); ``ids.py``
holds ids, tokens and status URLs, ``api.py`` its sources, ``capture.py`` the capture and
``discovery.py`` how articles embed tweets."""
