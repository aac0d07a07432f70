package main

import (
	"fmt"
	"io"
	"strings"
)

// configCheck is --config.check: it prints validate's problems, one a line,
// or that there is none, and returns the exit status: 0 or 2.
func configCheck(w io.Writer, err error) int {
	if err == nil {
		fmt.Fprintln(w, "OK: the configuration and the flags have no problem")
		return 0
	}
	lines := strings.Split(err.Error(), "\n")
	fmt.Fprintf(w, "%d problem(s):\n", len(lines))
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
	return 2
}
