package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// drawChart draws commands per second against concurrency (log2 axis), one
// line per contender, as a PNG. Only the standard library and x/image's
// fixed bitmap font are used: no plotting service, no fonts on disk.
func drawChart(path string, sweep []SweepPoint) error {
	if len(sweep) < 2 {
		return fmt.Errorf("need at least 2 sweep points, have %d", len(sweep))
	}
	xs := make([]int, len(sweep))
	for i, p := range sweep {
		xs[i] = p.Concurrency
	}
	var ss []series
	for _, name := range []string{"os/exec", "go-cmd", "engine"} {
		sr := series{name: name, color: contenderColors[name]}
		for _, p := range sweep {
			sr.ys = append(sr.ys, p.PerSecond[name])
		}
		ss = append(ss, sr)
	}
	return drawLines(path, "/bin/true spawn+wait throughput against concurrency (higher is better)",
		"commands in flight (log2)", "commands/s", xs, ss)
}

var contenderColors = map[string]color.RGBA{
	"os/exec": {31, 119, 180, 255},
	"go-cmd":  {255, 127, 14, 255},
	"engine":  {44, 160, 44, 255},
}

// series is one line of a chart: a value for every x.
type series struct {
	name  string
	color color.RGBA
	ys    []float64
}

// drawLines draws every series against xs (log2 axis, y from 0) as a PNG.
func drawLines(path, title, xlabel, ylabel string, xs []int, ss []series) error {
	const (
		w, h                     = 960, 560
		left, right, top, bottom = 80, 170, 50, 60
	)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	black := color.RGBA{0, 0, 0, 255}
	grey := color.RGBA{220, 220, 220, 255}

	ymax := 0.0
	for _, sr := range ss {
		for _, v := range sr.ys {
			ymax = max(ymax, v)
		}
	}
	step := niceStep(ymax / 6)
	ymax = math.Ceil(ymax/step) * step
	x0, x1 := math.Log2(float64(xs[0])), math.Log2(float64(xs[len(xs)-1]))
	px := func(c int) int {
		return left + int((math.Log2(float64(c))-x0)/(x1-x0)*float64(w-left-right))
	}
	py := func(v float64) int { return h - bottom - int(v/ymax*float64(h-top-bottom)) }

	for v := 0.0; v <= ymax+step/2; v += step {
		y := py(v)
		line(img, left, y, w-right, y, grey, 1)
		label := fmt.Sprintf("%.0f", v)
		text(img, left-8-7*len(label), y+4, label, black)
	}
	for _, x := range xs {
		xp := px(x)
		line(img, xp, top, xp, h-bottom, grey, 1)
		label := fmt.Sprint(x)
		text(img, xp-7*len(label)/2, h-bottom+18, label, black)
	}
	line(img, left, h-bottom, w-right, h-bottom, black, 1)
	line(img, left, top, left, h-bottom, black, 1)
	text(img, left, 28, title, black)
	text(img, (left+w-right)/2-7*len(xlabel)/2, h-18, xlabel, black)
	text(img, 8, top-12, ylabel, black)

	for i, sr := range ss {
		for j := 1; j < len(xs); j++ {
			line(img, px(xs[j-1]), py(sr.ys[j-1]), px(xs[j]), py(sr.ys[j]), sr.color, 3)
		}
		for j, x := range xs {
			dot(img, px(x), py(sr.ys[j]), 4, sr.color)
		}
		ly := top + 20 + 24*i
		line(img, w-right+20, ly-4, w-right+50, ly-4, sr.color, 3)
		text(img, w-right+58, ly, sr.name, black)
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// niceStep rounds a raw grid step up to 1, 2 or 5 × a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// line draws a line of the given thickness by stamping squares along it.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, thick int) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		x := x0 + (x1-x0)*i/n
		y := y0 + (y1-y0)*i/n
		for dx := -(thick / 2); dx <= (thick-1)/2; dx++ {
			for dy := -(thick / 2); dy <= (thick-1)/2; dy++ {
				img.SetRGBA(x+dx, y+dy, c)
			}
		}
	}
}

func dot(img *image.RGBA, x, y, r int, c color.RGBA) {
	for dx := -r; dx <= r; dx++ {
		for dy := -r; dy <= r; dy++ {
			if dx*dx+dy*dy <= r*r {
				img.SetRGBA(x+dx, y+dy, c)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
