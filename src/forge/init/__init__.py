"""forge init's wing: a new project folder, its layout and starting files (scaffold.py)."""
