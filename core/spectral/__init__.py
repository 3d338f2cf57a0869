"""ISGRI spectra and light curves: PIF-fit flux extraction at catalogue positions."""
