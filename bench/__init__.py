"""The benchmark harness: ``python -m bench.run`` (or ``make bench``) measures how well the
assistant understands, how fast it answers under load, how it starts and trains, and how it
compares with a stock Rasa bot measured in the same run. See ``bench/run.py``."""
