"""The screen's look: large type, high contrast (white on deep blue, a yellow focus ring for keypad
users), big touch targets. Widgets are styled by object name and ``role`` property."""

STYLE = """
QWidget#kiosk-screen, QStackedWidget > QWidget { background: #0b1f3a; color: #ffffff; font-size: 26pt; }
QLabel { color: #ffffff; font-size: 22pt; }
QLabel[role="title"] { font-size: 40pt; font-weight: bold; }
QLabel[role="subtitle"] { font-size: 26pt; color: #dfe8f5; }
QLabel[role="big"] { font-size: 52pt; font-weight: bold; color: #ffd400; }
QLabel[role="notice"] { font-size: 24pt; background: #5c1010; padding: 16px; border-radius: 12px; }
QLabel[role="banner"] { font-size: 26pt; font-weight: bold; color: #0b1f3a; background: #ffd400;
                        padding: 12px; }
QPushButton { font-size: 28pt; font-weight: bold; min-height: 96px; padding: 8px 32px;
              background: #ffffff; color: #0b1f3a; border: 4px solid #ffffff; border-radius: 16px; }
QPushButton:focus { border: 6px solid #ffd400; }
QPushButton:pressed { background: #ffd400; }
QPushButton:disabled { background: #5a6b85; color: #c9d3e2; border-color: #5a6b85; }
QPushButton[role="secondary"] { background: #1d4f91; color: #ffffff; border-color: #8fb3e8; }
QPushButton[role="secondary"][active="true"] { background: #ffd400; color: #0b1f3a; }
QPushButton[role="danger"] { background: #c62828; color: #ffffff; border-color: #ffffff; }
QPushButton[role="rating"] { font-size: 44pt; min-width: 120px; min-height: 140px; padding: 8px; }
QPushButton[role="quick"] { font-size: 20pt; min-height: 64px; padding: 4px 12px;
                            background: #1d4f91; color: #ffffff; border-color: #8fb3e8; }
QPushButton[role="enter"] { background: #1b7f3b; color: #ffffff; }
QWidget#call QPushButton { font-size: 18pt; min-height: 80px; padding: 4px 8px; }
QWidget#call QLineEdit { font-size: 20pt; }
QPushButton[role="topic"] { text-align: left; }
QLineEdit { font-size: 24pt; padding: 12px; background: #ffffff; color: #000000; border-radius: 8px;
            border: 4px solid #ffffff; }
QLineEdit:focus { border-color: #ffd400; }
QTextEdit, QTextBrowser { font-size: 22pt; background: #ffffff; color: #000000; border-radius: 8px; }
QWidget#dialog { background: #12305a; border: 6px solid #ffd400; border-radius: 24px; }
"""
