// Package workflows embeds the workflow definitions shipped with sciflow:
// each NAME.yaml with the JSON Schema form it names. They are data, not
// code; docs/workflows.md describes the format. SCIFLOW_WORKFLOWS_DIR
// replaces them with a directory of the operator's.
package workflows

import "embed"

// FS holds the definitions and their forms.
//
//go:embed *.yaml *.json
var FS embed.FS
