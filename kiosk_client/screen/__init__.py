"""The kiosk's screen: a full-screen Qt window (PySide6, on the program's asyncio loop through qasync).

``state.py`` turns the kiosk's call events into what the customer sees (no Qt); ``texts.py`` holds the
translations; ``window.py`` and its pages draw it; ``app.py`` runs it with the kiosk program. Qt is an
optional dependency (``pip install 'kiosk-assist[screen]'``): a headless kiosk never imports this package.
"""
