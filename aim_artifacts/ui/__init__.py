"""The read-only web page (`ui.app`), served by ``aim-artifacts ui``."""
