package workflow

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocumentedExampleIsTheTestedOne keeps docs/workflows.md true: its
// complete example must be, byte for byte, the definition the tests load.
func TestDocumentedExampleIsTheTestedOne(t *testing.T) {
	doc, err := os.ReadFile("../../docs/workflows.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```(yaml|json)\n(.*?)```").FindAllSubmatch(doc, -1)
	var yamlBlock, jsonBlock string
	for _, b := range blocks {
		if string(b[1]) == "yaml" && regexp.MustCompile(`(?m)^key: grant$`).Match(b[2]) {
			yamlBlock = string(b[2])
		}
		if string(b[1]) == "json" && regexp.MustCompile(`"budget"`).Match(b[2]) {
			jsonBlock = string(b[2])
		}
	}
	yamlFile, err := os.ReadFile("testdata/valid/grant.yaml")
	require.NoError(t, err)
	jsonFile, err := os.ReadFile("testdata/valid/grant.form.json")
	require.NoError(t, err)
	// The file starts with a comment line the document leaves out.
	require.Equal(t, regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(string(yamlFile), ""), yamlBlock)
	require.Equal(t, string(jsonFile), jsonBlock)
}
