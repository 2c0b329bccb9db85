// Package seams holds no code: its test checks the import rules between
// the project's packages, so an arrow that runs the wrong way fails
// `make test` instead of waiting for a reviewer.
package seams
