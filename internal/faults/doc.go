// Package faults holds shopq's fault suite: tests that kill the worker,
// cut Redis, and feed every entrance bad input, then check that each task
// acknowledged to a producer has its effect exactly once. The tests run the
// real worker binary against redis-server processes of their own on
// loopback; see docs/durability.md for what they found and measured.
package faults
