package main

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var systemColors = map[string]color.RGBA{
	"admit":    {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"etcd":     {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"postgres": {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"echo":     {R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// chartPoints are a system's measured steps (not the warm-up), x the
// achieved scans/s and y the latency in ms: the steps that held in order
// of target rate (the curve), and those that failed (past saturation,
// where the achieved rate falls behind and latency grows with the queue).
func chartPoints(p *phaseResult) (held, failed [2]plotter.XYs) {
	var steps []stepResult
	for _, st := range p.Steps {
		if st.Phase != "warmup" && st.Requests > 0 {
			steps = append(steps, st)
		}
	}
	slices.SortStableFunc(steps, func(a, b stepResult) int { return cmp.Compare(a.TargetRate, b.TargetRate) })
	for _, st := range steps {
		to := &held
		if !st.Held {
			to = &failed
		}
		to[0] = append(to[0], plotter.XY{X: st.AchievedRate, Y: max(st.Latency.P50, 0.01)})
		to[1] = append(to[1], plotter.XY{X: st.AchievedRate, Y: max(st.Latency.P99, 0.01)})
	}
	return held, failed
}

// writeChart draws p50 (solid) and p99 (dashed) latency against achieved
// throughput, one colour per system, latency on a log scale; steps that
// failed are unconnected crosses. One phase per chart: the single scans,
// or (batched) the batched phase, whose latency is per request.
func writeChart(path string, rep *report, batched bool) error {
	p := plot.New()
	what := "Check-and-mark scans"
	if batched {
		what = fmt.Sprintf("Batches of %d scans", rep.Load.Batch)
	}
	p.Title.Text = fmt.Sprintf("%s: latency against throughput (%d cores, %s)", what, rep.Machine.Cores, rep.Machine.Date.Format("2006-01-02"))
	p.X.Label.Text = "achieved scans/s"
	p.Y.Label.Text = "latency, ms (log scale; from intended send time)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	dashed := []vg.Length{vg.Points(5), vg.Points(3)}
	for i := range rep.Systems {
		s := &rep.Systems[i]
		ph := s.phase(batched)
		if ph == nil {
			continue
		}
		held, failed := chartPoints(ph)
		c, ok := systemColors[s.Name]
		if !ok {
			c = color.RGBA{A: 0xff}
		}
		var thumb plot.Thumbnailer
		for k, xys := range held {
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			line.Color, line.Width = c, vg.Points(1.5)
			points.Color, points.Shape, points.Radius = c, draw.CircleGlyph{}, vg.Points(2.5)
			if k == 1 {
				line.Dashes, points.Shape = dashed, draw.TriangleGlyph{}
			} else {
				thumb = line
			}
			p.Add(line, points)
		}
		for k, xys := range failed {
			if len(xys) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return err
			}
			sc.Color, sc.Shape, sc.Radius = c, draw.CrossGlyph{}, vg.Points(3.5)
			if k == 1 {
				sc.Shape = draw.PlusGlyph{}
			}
			p.Add(sc)
			if thumb == nil {
				thumb = sc
			}
		}
		if thumb != nil {
			p.Legend.Add(s.Name, thumb)
		}
	}
	gray := color.Gray{Y: 0x60}
	for _, k := range []struct {
		name string
		dash []vg.Length
	}{{"p50 (solid)", nil}, {"p99 (dashed)", dashed}} {
		l, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}})
		l.Color, l.Width, l.Dashes = gray, vg.Points(1.5), k.dash
		p.Legend.Add(k.name, l)
	}
	fx, _ := plotter.NewScatter(plotter.XYs{{X: 0, Y: 1}})
	fx.Color, fx.Shape = gray, draw.CrossGlyph{}
	p.Legend.Add("failed step (× p50, + p99)", fx)
	if bound := rep.Load.P99BoundMs; bound > 0 {
		if l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: bound}, {X: p.X.Max * 1.02, Y: bound}}); err == nil {
			l.Color, l.Dashes = color.Gray{Y: 0x80}, []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("p99 bound %s", fmtMs(bound)), l)
		}
	}
	return p.Save(10*vg.Inch, 6*vg.Inch, path)
}
