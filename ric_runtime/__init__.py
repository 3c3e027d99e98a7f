"""How ric runs, under the method: typed configs and console scripts (``config``), atomic files
(``io``) and the checkpoint-folder convention (``checkpoints``). Imports nothing else from the project.
"""
