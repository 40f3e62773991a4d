//go:build !unix

package main

// signalNumber: no signal ends a process here, so no name maps to a number.
func signalNumber(string) (int, bool) { return 0, false }
