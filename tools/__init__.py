"""Command-line tools of the pack: the headless workflow runner and the UI -> API workflow converter."""
