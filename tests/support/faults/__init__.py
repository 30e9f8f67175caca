"""The fault suite's helpers (issue 17): a bounded load of signed transfers that remembers
every hash a node answered (`load`), perturbations of a local network with their recovery
times (`schedule`), a catalogue of hostile inputs (`catalogue`), and the figures printed at
the end (`report`). The tests are tests/integration/test_fault_schedule.py and
test_hostile_inputs.py."""
