package pynbadebug_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const chromium = "/usr/bin/chromium"

// runChromium runs headless Chromium on url with the extra arguments and
// returns its standard output. The browser runs in a process group of its
// own, killed by its id when the run ends or times out, and at cleanup.
func runChromium(t *testing.T, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--run-all-compositor-stages-before-draw",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900",
	}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// The browser's helpers are in its group; kill what is left of it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Process.Kill()
	})
	err := cmd.Wait()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestBrowser renders the page in headless Chromium: the screenshot is a
// 1280×900 PNG with the main table drawn, and the DOM the browser built
// holds the script names in that table. Set PYNBADEBUG_SCREENSHOT to a
// file name to keep the screenshot.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs Chromium (apt-get install -y chromium): %v", err)
		}
		t.Skipf("no Chromium: %v", err)
	}
	g := newRig(t, 256)
	for i := range 40 {
		q := "country=" + []string{"fr", "de", "us"}[i%3]
		switch {
		case i%10 == 9:
			g.getQuery("/fail", q)
		case i%10 == 4:
			g.getQuery("/list", q)
		case i%3 == 0:
			g.getQuery("/search", q)
		default:
			g.getQuery("/items/42", q)
		}
	}
	g.settle(40)
	url := g.debug.URL + "/debug/pynba/?packets=12"
	scripts := []string{"GET /items/{id}", "GET /search", "GET /fail", "GET /list"}

	shot := filepath.Join(t.TempDir(), "page.png")
	runChromium(t, url, "--screenshot="+shot)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() != 1280 || r.Dy() != 900 {
		t.Fatalf("screenshot %v, want 1280×900", r)
	}
	// The scripts table is the first table, under the heading and the
	// summary cards: its region must hold text and rules, not white.
	dark, total := 0, 0
	for y := 150; y < 420; y++ {
		for x := 20; x < 1260; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			total++
			if r < 0xc000 || g < 0xc000 || b < 0xc000 {
				dark++
			}
		}
	}
	if dark*100 < total { // under 1%
		t.Errorf("the main table's region is blank: %d of %d pixels not white", dark, total)
	}
	t.Logf("main table region: %d of %d pixels dark", dark, total)
	if out := os.Getenv("PYNBADEBUG_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	dom := string(runChromium(t, url, "--dump-dom"))
	start := strings.Index(dom, `<table id="scripts">`)
	if start < 0 {
		t.Fatalf("no scripts table in the DOM:\n%.2000s", dom)
	}
	table := dom[start:]
	table = table[:strings.Index(table, "</table>")]
	for _, s := range scripts {
		if !strings.Contains(table, ">"+s+"<") {
			t.Errorf("the rendered scripts table lacks %q", s)
		}
	}
}
