package oversight

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutlierRule pins the rule at its edges, with exact decimals: the
// 15-point floor, the 3 × MAD band of a panel that disagrees, a tie at the
// threshold, and panels too small to judge.
func TestOutlierRule(t *testing.T) {
	flagged := func(totals ...string) []bool {
		t.Helper()
		js, err := outliers(totals)
		require.NoError(t, err)
		out := make([]bool, len(js))
		for i, j := range js {
			out[i] = j.Outlier
		}
		return out
	}
	require.Equal(t, []bool{false, false, false, true}, flagged("80.00", "80.00", "80.00", "64.99"), "15.01 from a unanimous rest")
	require.Equal(t, []bool{false, false, false, false}, flagged("80.00", "80.00", "80.00", "65.00"), "exactly 15 is not more than 15")
	require.Equal(t, []bool{false, false, false, false, true}, flagged("80", "82", "78", "85", "40"))
	require.Equal(t, []bool{false, false, false, false, false}, flagged("80", "82", "78", "85", "70"))
	// A panel that disagrees widely: the others of 40 are 60, 70, 90, 100,
	// median 80, deviations 20, 10, 10, 20, MAD 15, band 45; 40 is 40 away.
	require.Equal(t, []bool{false, false, false, false, false}, flagged("60", "70", "90", "100", "40"))
	// The same panel with 20: 60 away, beyond the band.
	require.Equal(t, []bool{false, false, false, false, true}, flagged("60", "70", "90", "100", "20"))
	require.Equal(t, []bool{false, false}, flagged("100", "0"), "two scores leave no rest to compare with")
	require.Equal(t, []bool{false, false, true}, flagged("80", "82", "50"), "three do: 50 is 31 from 81")

	js, err := outliers([]string{"80.00", "82.00", "78.00", "85.00", "40.00"})
	require.NoError(t, err)
	require.Equal(t, judgement{Outlier: true, Median: "81.00", Distance: "41.00", Threshold: "15.00"}, js[4])
	_, err = outliers([]string{"80", "x", "70"})
	require.Error(t, err)
}
