package lmbatch_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"lmbatch"
)

// The flow of the package doc: one pipeline, one face, its landmarks.
func Example() {
	p, err := lmbatch.New(lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 2 * time.Millisecond})
	if err != nil {
		fmt.Println(err) // e.g. "lmbatch: create: invalid argument: max_batch ..."
		return
	}
	defer p.Close()

	rgb, err := os.ReadFile("../../tests/data/faces/astronaut_rgb8_native.raw") // 512x512 RGB8
	if err != nil {
		fmt.Println(err)
		return
	}
	frame := lmbatch.Image{Data: rgb, Width: 512, Height: 512, Stride: 3 * 512, Format: lmbatch.RGB8}
	box := lmbatch.Box{X1: 177.28, Y1: 80.56, X2: 271.85, Y2: 175.12} // from your face detector

	switch err := p.Enqueue(42, frame, box); {
	case errors.Is(err, lmbatch.ErrQueueFull):
		fmt.Println("backpressure: drop the face or retry later")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	lm, err := p.PopWait(42, 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	nose := lm.Points[1] // frame pixels
	inBox := nose.X > box.X1 && nose.X < box.X2 && nose.Y > box.Y1 && nose.Y < box.Y2
	fmt.Printf("%d points, nose tip in the box: %v\n", len(lm.Points), inBox)
	// Output: 468 points, nose tip in the box: true
}
