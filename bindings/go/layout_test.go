package lmbatch

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The layout cgo gives this package equals the C compiler's, line for line, for every struct of
// bindings/csharp/struct_sizes.c (shared with the C# binding's layout test): no struct or field
// of the header is left out, none differs.
func TestLayoutMatchesTheHeader(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			t.Fatal("no C compiler for struct_sizes.c (cgo needs one anyway)")
		}
	}
	bin := filepath.Join(t.TempDir(), "struct_sizes")
	build := exec.Command(cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", filepath.Join("..", "..", "include"),
		filepath.Join("..", "csharp", "struct_sizes.c"), "-o", bin)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building struct_sizes.c: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("struct_sizes: %v", err)
	}
	var fromC []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "size ") || strings.HasPrefix(line, "offset ") {
			fromC = append(fromC, line)
		}
	}
	fromGo := cLayout()
	sort.Strings(fromC)
	sort.Strings(fromGo)
	if len(fromC) < 70 {
		t.Fatalf("struct_sizes printed only %d layout lines", len(fromC))
	}
	inGo := map[string]bool{}
	for _, l := range fromGo {
		inGo[l] = true
	}
	inC := map[string]bool{}
	for _, l := range fromC {
		inC[l] = true
		if !inGo[l] {
			t.Errorf("C says %q; cgo's layout differs or the binding does not list it", l)
		}
	}
	for _, l := range fromGo {
		if !inC[l] {
			t.Errorf("cgo says %q; the C compiler does not", l)
		}
	}
	for _, want := range []string{"size lm_frame ", "size lm_face ", "offset lm_landmarks track_roll "} {
		found := false
		for _, l := range fromC {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("struct_sizes.c does not print %q...", want)
		}
	}
}
