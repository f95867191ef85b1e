package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a long operation is: a bar on a terminal, a line
// per report otherwise (or nothing, with --progress none). It writes to
// stderr, so stdout keeps the result (or the backup stream).
type progress struct {
	w     io.Writer
	label string
	total int64 // -1: unknown
	bar   *progressbar.ProgressBar
	lines bool
	last  int64
}

// newProgress starts the progress of the operation label over total items
// (-1 when unknown).
func (g *globals) newProgress(label string, total int64) *progress {
	p := &progress{w: g.env.stderr, label: label, total: total}
	mode := g.progress
	if mode == "auto" {
		mode = "lines"
		if isTerminal(g.env.stderr) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("sessions"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
		)
		_ = p.bar.RenderBlank() // starts the clock of the rate and the estimate
	case "lines":
		p.lines = true
	}
	return p
}

// update reports that done items are handled; detail adds counts.
func (p *progress) update(done int64, detail string) {
	if done == p.last {
		return
	}
	p.last = done
	switch {
	case p.bar != nil:
		if p.total >= 0 && done > p.bar.GetMax64() {
			p.bar.ChangeMax64(done)
		}
		_ = p.bar.Set64(done)
	case p.lines:
		if p.total > 0 {
			fmt.Fprintf(p.w, "%s: %d/%d (%d%%) %s\n", p.label, done, p.total, done*100/max(p.total, 1), detail)
		} else {
			fmt.Fprintf(p.w, "%s: %d %s\n", p.label, done, detail)
		}
	}
}

// finish ends the bar (complete or not).
func (p *progress) finish() {
	if p.bar != nil && !p.bar.IsFinished() {
		if p.total >= 0 && p.last >= p.bar.GetMax64() {
			_ = p.bar.Finish()
		} else {
			_ = p.bar.Exit()
			fmt.Fprintln(p.w)
		}
	}
}
