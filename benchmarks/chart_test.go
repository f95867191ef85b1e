package benchmarks

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colorGet    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorAdd    = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colorLoad   = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colorTarget = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// drawChart draws two panels side by side and saves them as a PNG at path:
// requests per second of the HTTP load on Redis per library, with the
// targets of 1.2× and 1.5× the better peer as dashed lines, and the
// in-process overhead over the bare handler of each library for the two
// requests, on Redis and in memory.
func drawChart(res *publishResults, path string) error {
	load, err := loadPlot(res)
	if err != nil {
		return err
	}
	over, err := overheadPlot(res)
	if err != nil {
		return err
	}
	const w, h = 30 * vg.Centimeter, 12 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: 2 * vg.Millimeter,
		PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{load, over}}, tiles, dc)
	load.Draw(canvases[0][0])
	over.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadPlot is a horizontal bar per library: median requests per second.
func loadPlot(res *publishResults) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("HTTP 90/10 on Redis, %d clients (median of %d rounds)", res.Settings.Clients, res.Settings.LoadRounds)
	names, vals := loadBars(res)
	p.X.Label.Text = "requests per second (more is better)"
	for _, l := range res.Load {
		if l.Target == tBare {
			// Far above the others: in the axis label.
			p.X.Label.Text = fmt.Sprintf("requests per second (more is better; no session: %.0f)", l.RPS)
		}
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(16))
	if err != nil {
		return nil, err
	}
	bars.Horizontal = true
	bars.Color = colorLoad
	bars.LineStyle.Width = 0
	p.Add(bars)
	if err := addValueLabels(p, vals, 0, func(v float64) string { return fmt.Sprintf("%.0f", v) }); err != nil {
		return nil, err
	}
	// The targets: 1.2× the better peer's requests per second without
	// the near-cache, 1.5× with it.
	var peer float64
	for _, l := range res.Load {
		if l.Target == tSCS || l.Target == tGorilla {
			peer = max(peer, l.RPS)
		}
	}
	top := maxOf(vals)
	if peer > 0 {
		goalLabels := []string{"target: 1.2× the faster peer", "target with the near-cache: 1.5×"}
		for i, f := range []float64{1.2, 1.5} {
			x := f * peer
			line, err := plotter.NewLine(plotter.XYs{{X: x, Y: -0.5}, {X: x, Y: float64(len(vals)) - 0.5}})
			if err != nil {
				return nil, err
			}
			line.Color = colorTarget
			line.Width = vg.Points(1)
			line.Dashes = []vg.Length{vg.Points(4 + 2*float64(i)), vg.Points(3)}
			p.Add(line)
			p.Legend.Add(goalLabels[i], line)
			top = max(top, x)
		}
		p.Legend.Top = true
		p.Legend.Left = false
		p.Legend.XOffs = -2 * vg.Millimeter
		p.Legend.TextStyle.Font.Size = vg.Points(9)
	}
	p.NominalY(names...)
	if peer > 0 {
		// Room for the legend above the top bar, clear of the lines.
		p.Y.Max = float64(len(names)) + 0.3
	}
	p.X.Min = 0
	p.X.Max = top * 1.3
	return p, nil
}

// loadBars returns the libraries of the HTTP load on Redis, bottom to top
// (the Y axis grows upwards, so the chart lists them in table order), and
// their median requests per second; the bare handler is left out.
func loadBars(res *publishResults) ([]string, plotter.Values) {
	var names []string
	var vals plotter.Values
	for i := len(res.Load) - 1; i >= 0; i-- {
		if res.Load[i].Target == tBare {
			continue
		}
		names = append(names, res.Load[i].Target)
		vals = append(vals, res.Load[i].RPS)
	}
	return names, vals
}

// overheadPlot has two horizontal bars per library (GET cart, add to a
// 20-item cart): the overhead over the bare handler in microseconds.
func overheadPlot(res *publishResults) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("In-process overhead over the bare handler (median of %d)", res.Settings.InRounds)
	p.X.Label.Text = "µs per request (less is better)"
	names, get, add := overheadBars(res)
	const width = 9
	for _, s := range []struct {
		vals   plotter.Values
		color  color.Color
		offset vg.Length
		label  string
	}{
		{get, colorGet, vg.Points(width / 2), "GET 5-item cart"},
		{add, colorAdd, -vg.Points(width / 2), "add to a 20-item cart"},
	} {
		bars, err := plotter.NewBarChart(s.vals, vg.Points(width))
		if err != nil {
			return nil, err
		}
		bars.Horizontal = true
		bars.Color = s.color
		bars.LineStyle.Width = 0
		bars.Offset = s.offset
		p.Add(bars)
		p.Legend.Add(s.label, bars)
		if err := addValueLabels(p, s.vals, s.offset, func(v float64) string { return fmt.Sprintf("%.0f", v) }); err != nil {
			return nil, err
		}
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.XOffs = -2 * vg.Millimeter
	p.NominalY(names...)
	p.X.Min = 0
	p.X.Max = max(maxOf(get), maxOf(add)) * 1.3
	return p, nil
}

// overheadBars returns the libraries measured in process, bottom to top,
// with their overheads over the bare handler in microseconds for the two
// requests (GET cart, add); a library on Redis is named "name (Redis)".
func overheadBars(res *publishResults) (names []string, get, add plotter.Values) {
	var libs []inProcRow
	for _, row := range res.InProcess {
		if row.Workload == cartWorkloads[0].name && row.Target != tBare {
			libs = append(libs, row)
		}
	}
	for i := len(libs) - 1; i >= 0; i-- {
		row := libs[i]
		a, _ := res.find(row.Target, cartWorkloads[1].name)
		name := row.Target
		if row.Store == "Redis" {
			name += " (Redis)"
		}
		names = append(names, name)
		get = append(get, max(row.Overhead, 0)/1e3)
		add = append(add, max(a.Overhead, 0)/1e3)
	}
	return names, get, add
}

// addValueLabels writes each value at the end of its horizontal bar.
func addValueLabels(p *plot.Plot, vals plotter.Values, offset vg.Length, format func(float64) string) error {
	xys := make(plotter.XYs, len(vals))
	labels := make([]string, len(vals))
	for i, v := range vals {
		xys[i] = plotter.XY{X: v, Y: float64(i)}
		labels[i] = format(v)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	l.Offset = vg.Point{X: vg.Points(3), Y: offset - vg.Points(4)}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = vg.Points(8)
	}
	p.Add(l)
	return nil
}

func maxOf(vals plotter.Values) float64 {
	m := 1.0
	for _, v := range vals {
		m = max(m, v)
	}
	return m
}
