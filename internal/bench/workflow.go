package bench

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sciflow/sciflow/workflows"
)

// definitions is the bench's own programme, run beside the shipped ones.
//
//go:embed workflows/*.yaml workflows/*.json
var definitions embed.FS

// The workflow and the event every timed transition is: a submission, which
// validates the form, runs a guard and opens a review stage's tasks.
const (
	Workflow = "bench"
	Event    = "submit"
)

// WriteWorkflows writes the shipped definitions and the bench's into dir,
// for SCIFLOW_WORKFLOWS_DIR: the in-process engine and every server then
// load the same files and share their stored versions.
func WriteWorkflows(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("workflows dir: %w", err)
	}
	own, err := fs.Sub(definitions, "workflows")
	if err != nil {
		return fmt.Errorf("bench workflows: %w", err)
	}
	for _, src := range []fs.FS{workflows.FS, own} {
		names, err := fs.Glob(src, "*.[jy]*")
		if err != nil {
			return fmt.Errorf("list workflows: %w", err)
		}
		for _, name := range names {
			raw, err := fs.ReadFile(src, name)
			if err != nil {
				return fmt.Errorf("read workflow %s: %w", name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), raw, 0o640); err != nil {
				return fmt.Errorf("write workflow %s: %w", name, err)
			}
		}
	}
	return nil
}

// formData is the i-th application's form: complete, so that submit's
// validation passes, and different from its neighbours' as real ones are.
func formData(i int) map[string]any {
	fields := []string{"agriculture", "manufacturing", "health", "environment"}
	return map[string]any{
		"title":   fmt.Sprintf("基准测试项目 %d：县域特色产业关键技术攻关", i),
		"field":   fields[i%len(fields)],
		"summary": "围绕县域主导产业的共性关键技术开展攻关，形成可推广的技术方案与示范应用。",
		"budget":  1_200_000 + i%1000*100,
		"start":   "2027-03-01",
		"team": []any{
			map[string]any{"name": "张明", "title": "高级工程师"},
			map[string]any{"name": "李华", "title": "工程师"},
			map[string]any{"name": "王芳"},
		},
	}
}
