package workflow

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocumentedExampleIsTheTestedOne keeps docs/workflows.md true: its
// complete examples must be, byte for byte, the definitions the tests load.
func TestDocumentedExampleIsTheTestedOne(t *testing.T) {
	doc, err := os.ReadFile("../../docs/workflows.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```(yaml|json)\n(.*?)```").FindAllSubmatch(doc, -1)
	for _, key := range []string{"grant", "project"} {
		var yamlBlock, jsonBlock string
		for i, b := range blocks {
			if string(b[1]) == "yaml" && regexp.MustCompile(`(?m)^key: `+key+`$`).Match(b[2]) {
				yamlBlock = string(b[2])
				// The form follows its definition.
				if i+1 < len(blocks) && string(blocks[i+1][1]) == "json" {
					jsonBlock = string(blocks[i+1][2])
				}
			}
		}
		yamlFile, err := os.ReadFile("testdata/valid/" + key + ".yaml")
		require.NoError(t, err)
		jsonFile, err := os.ReadFile("testdata/valid/" + key + ".form.json")
		require.NoError(t, err)
		// The file starts with a comment line the document leaves out.
		require.Equal(t, regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(string(yamlFile), ""), yamlBlock, key)
		require.Equal(t, string(jsonFile), jsonBlock, key)
	}
}
