package lmbatch_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"lmbatch"
)

// The detector's eyes on the astronaut (tests/data/crop.json): the subject's right eye first.
var (
	rightEye = lmbatch.Point2{X: 203.72534, Y: 102.96088}
	leftEye  = lmbatch.Point2{X: 249.12488, Y: 109.49558}
)

func popOK(t *testing.T, p *lmbatch.Pipeline, id uint64) lmbatch.Landmarks {
	t.Helper()
	lm, err := p.PopWait(id, 60*time.Second)
	if err != nil {
		t.Fatalf("PopWait(%d): %v", id, err)
	}
	if len(lm.Points) != 468 {
		t.Fatalf("PopWait(%d): %d points", id, len(lm.Points))
	}
	return lm
}

// maxDistance is the largest distance between a's points and b's, b's mapped by m first.
func maxDistance(a, b lmbatch.Landmarks, m func(lmbatch.Point) lmbatch.Point2) float64 {
	worst := 0.0
	for i := range a.Points {
		q := m(b.Points[i])
		worst = math.Max(worst, math.Hypot(float64(a.Points[i].X-q.X), float64(a.Points[i].Y-q.Y)))
	}
	return worst
}

func same(p lmbatch.Point) lmbatch.Point2 { return lmbatch.Point2{X: p.X, Y: p.Y} }

// astronautYUV gives NV12 and I420 planes of the astronaut's top-left 511x509 (odd on purpose),
// BT.601 full range, chroma averaged over 2x2 pixels (sited at the centre); Y rows padded by 3.
func astronautYUV(t testing.TB) (nv12, i420 lmbatch.Frame) {
	rgb := astronautData(t)
	const w, h = 511, 509
	const cw, ch = (w + 1) / 2, (h + 1) / 2
	at := func(x, y, c int) float64 {
		return float64(rgb[(min(y, h-1)*astroW+min(x, w-1))*3+c])
	}
	luma := func(x, y int) float64 { return 0.299*at(x, y, 0) + 0.587*at(x, y, 1) + 0.114*at(x, y, 2) }
	toByte := func(v float64) byte { return byte(math.Max(0, math.Min(255, math.Round(v)))) }
	y := make([]byte, (w+3)*h)
	u := make([]byte, cw*ch)
	v := make([]byte, cw*ch)
	uv := make([]byte, 2*cw*ch)
	for r := 0; r < h; r++ {
		for x := 0; x < w; x++ {
			y[r*(w+3)+x] = toByte(luma(x, r))
		}
	}
	for r := 0; r < ch; r++ {
		for x := 0; x < cw; x++ {
			var su, sv float64
			for k := 0; k < 4; k++ {
				sx, sy := 2*x+k&1, 2*r+k>>1
				l := luma(sx, sy)
				su += 128 + 0.564334*(at(sx, sy, 2)-l)
				sv += 128 + 0.713267*(at(sx, sy, 0)-l)
			}
			u[r*cw+x], uv[r*2*cw+2*x] = toByte(su/4), toByte(su/4)
			v[r*cw+x], uv[r*2*cw+2*x+1] = toByte(sv/4), toByte(sv/4)
		}
	}
	nv12 = lmbatch.NV12Frame(y, w+3, uv, 2*cw, w, h)
	i420 = lmbatch.I420Frame(y, w+3, u, cw, v, cw, w, h)
	for _, f := range []*lmbatch.Frame{&nv12, &i420} {
		f.ColorMatrix, f.ColorRange, f.ChromaLocation = lmbatch.ColorMatrixBT601, lmbatch.ColorRangeFull, lmbatch.ChromaLocationCenter
	}
	return nv12, i420
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func TestEnqueueFrameAndTracking(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 100 * time.Microsecond})
	img := astronaut(t)
	// A packed Frame with an upright Face is Enqueue exactly.
	if err := p.Enqueue(1, img, astroBox); err != nil {
		t.Fatal(err)
	}
	if err := p.EnqueueFrame(2, img.Frame(), lmbatch.Face{Box: astroBox}); err != nil {
		t.Fatal(err)
	}
	upright, fromFrame := popOK(t, p, 1), popOK(t, p, 2)
	if d := maxDistance(upright, fromFrame, same); d != 0 || fromFrame.Roll != 0 {
		t.Errorf("packed Frame vs Image: %v px apart, roll %v", d, fromFrame.Roll)
	}

	// The track fields: a square box around the face, the roll of its eye line.
	tb, nose := upright.TrackBox, upright.Points[1]
	if side := tb.X2 - tb.X1; math.Abs(float64(side-(tb.Y2-tb.Y1))) > 0.01 || side < 40 || side > 200 ||
		nose.X < tb.X1 || nose.X > tb.X2 || nose.Y < tb.Y1 || nose.Y > tb.Y2 {
		t.Errorf("track box %+v (nose at %+v)", tb, nose)
	}
	// TrackRoll is the angle of the predicted eye centres (points 33, 133 and 263, 362).
	pt := upright.Points
	eyeRoll := math.Atan2(float64(pt[263].Y+pt[362].Y-pt[33].Y-pt[133].Y), float64(pt[263].X+pt[362].X-pt[33].X-pt[133].X))
	if math.Abs(float64(upright.TrackRoll)-eyeRoll) > 1e-4 {
		t.Errorf("track roll %v rad, the eye points say %v", upright.TrackRoll, eyeRoll)
	}
	if next := upright.NextFace(); next.Flags != lmbatch.FaceRoll || next.Roll != upright.TrackRoll || next.Box != tb {
		t.Errorf("NextFace: %+v", next)
	}

	// Eyes and the same angle as a roll give the same crop, and the reference points.
	theta := float32(math.Atan2(float64(leftEye.Y-rightEye.Y), float64(leftEye.X-rightEye.X)))
	if err := p.EnqueueFrame(3, img.Frame(), lmbatch.FaceWithEyes(astroBox, rightEye, leftEye)); err != nil {
		t.Fatal(err)
	}
	if err := p.EnqueueFrame(4, img.Frame(), lmbatch.FaceWithRoll(astroBox, theta)); err != nil {
		t.Fatal(err)
	}
	byEyes, byRoll := popOK(t, p, 3), popOK(t, p, 4)
	if math.Abs(float64(byEyes.Roll-theta)) > 1e-6 || math.Abs(float64(byRoll.Roll-theta)) > 1e-6 {
		t.Errorf("rolls %v and %v, want %v", byEyes.Roll, byRoll.Roll, theta)
	}
	if d := maxDistance(byEyes, byRoll, same); d > 1e-3 {
		t.Errorf("eyes vs roll: %v px", d)
	}
	if err := checkPoints(byEyes, 0, 0); err != nil {
		t.Errorf("turned crop: %v", err)
	}

	// The frame turned a quarter clockwise, (x, y) -> (512 - y, x), its face cropped by its roll:
	// the same points, turned.
	turned := make([]byte, len(img.Data))
	for y := 0; y < astroH; y++ {
		for x := 0; x < astroW; x++ {
			copy(turned[(x*astroW+astroW-1-y)*3:][:3], img.Data[(y*astroW+x)*3:])
		}
	}
	tbox := lmbatch.Box{X1: 512 - astroBox.Y2, Y1: astroBox.X1, X2: 512 - astroBox.Y1, Y2: astroBox.X2}
	quarterFrame := lmbatch.Image{Data: turned, Width: astroW, Height: astroH, Stride: astroStride, Format: lmbatch.RGB8}.Frame()
	if err := p.EnqueueFrame(5, quarterFrame, lmbatch.FaceWithRoll(tbox, theta+math.Pi/2)); err != nil {
		t.Fatal(err)
	}
	quarter := maxDistance(byRoll, popOK(t, p, 5), func(q lmbatch.Point) lmbatch.Point2 { return lmbatch.Point2{X: q.Y, Y: 512 - q.X} })
	if quarter > 1.5 {
		t.Errorf("quarter turn: %.3f px", quarter)
	}

	// NV12 and I420 of an odd-sized frame.
	nv12, i420 := astronautYUV(t)
	if err := p.EnqueueFrame(6, nv12, lmbatch.Face{Box: astroBox}); err != nil {
		t.Fatal(err)
	}
	if err := p.EnqueueFrame(7, i420, lmbatch.FaceWithEyes(astroBox, rightEye, leftEye)); err != nil {
		t.Fatal(err)
	}
	fromNV12, fromI420 := popOK(t, p, 6), popOK(t, p, 7)
	dNV12, dI420 := maxDistance(upright, fromNV12, same), maxDistance(byEyes, fromI420, same)
	if dNV12 > 1.5 || dI420 > 1.5 || fromNV12.FaceScore < 0.9 || fromI420.FaceScore < 0.9 {
		t.Errorf("YUV vs packed: NV12 %.3f px (score %.3f), I420 %.3f px (score %.3f)", dNV12, fromNV12.FaceScore, dI420, fromI420.FaceScore)
	}
	t.Logf("NV12 %.3f px, I420 %.3f px from the packed points; quarter turn %.3f px", dNV12, dI420, quarter)
}

func TestBadFrames(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 100 * time.Microsecond})
	nv12, _ := astronautYUV(t)
	up := lmbatch.Face{Box: astroBox}
	nan := float32(math.NaN())
	noUV := nv12
	noUV.Planes[1] = nil
	badMatrix := nv12
	badMatrix.ColorMatrix = 3
	badRange := nv12
	badRange.ColorRange = 3
	// Refused by the library: counted in RejectedInvalid.
	library := []struct {
		name  string
		frame lmbatch.Frame
		face  lmbatch.Face
	}{
		{"no UV plane", noUV, up},
		{"matrix 3", badMatrix, up},
		{"range 3", badRange, up},
		{"NaN roll", nv12, lmbatch.FaceWithRoll(astroBox, nan)},
		{"infinite eye", nv12, lmbatch.FaceWithEyes(astroBox, lmbatch.Point2{X: float32(math.Inf(1))}, leftEye)},
		{"format 21", lmbatch.Frame{Format: 21, Width: 4, Height: 4, Planes: [4][]byte{nv12.Planes[0]}, Strides: [4]int{4}}, up},
	}
	for i, c := range library {
		err := p.EnqueueFrame(uint64(i), c.frame, c.face)
		var se *lmbatch.StatusError
		if !errors.Is(err, lmbatch.ErrInvalidArgument) || !errors.As(err, &se) || se.Op != "enqueue_frame" {
			t.Errorf("%s: %v, want ErrInvalidArgument", c.name, err)
		}
	}
	// Refused by the binding, which must not let the library read past a plane.
	shortUV := nv12
	shortUV.Planes[1] = nv12.Planes[1][:len(nv12.Planes[1])-1]
	negative := nv12
	negative.Strides[1] = -2
	binding := []struct {
		name  string
		frame lmbatch.Frame
	}{
		{"UV one byte short", shortUV},
		{"negative stride", negative},
		{"negative width", lmbatch.Frame{Format: lmbatch.NV12, Width: -1, Height: 4}},
		{"P010 view of 8-bit planes", lmbatch.Frame{Format: lmbatch.P010, Width: nv12.Width, Height: nv12.Height,
			Planes: nv12.Planes, Strides: nv12.Strides}},
	}
	for i, c := range binding {
		if err := p.EnqueueFrame(uint64(100+i), c.frame, up); !errors.Is(err, lmbatch.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", c.name, err)
		}
	}
	if s := stats(t, p); s.RejectedInvalid != uint64(len(library)) || s.Accepted != 0 {
		t.Errorf("RejectedInvalid %d (want %d), Accepted %d (want 0)", s.RejectedInvalid, len(library), s.Accepted)
	}
}
