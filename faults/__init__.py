"""The fault suite (`make faults`): the real local stack under injected faults.

faults/stack.py starts the emulators and `python -m local.dev` in process groups of their
own (so that either can be killed and started again), faults/sink.py is the recording
target, faults/experiments.py drives one experiment and counts what happened, and
faults/run.py runs them all and prints the table. docs/performance.md, "Fault suite".
"""
