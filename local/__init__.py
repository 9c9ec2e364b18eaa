"""Running the platform on one machine: the Google emulators and the local runner."""
