package oversight

import (
	"fmt"
	"math/big"
	"sort"
)

// judgement is what the outlier rule made of one total of a panel, the
// numbers as decimal text with two places.
type judgement struct {
	Outlier bool
	// Median of the others' totals, Distance of this total from it, and
	// Threshold, max(OutlierMinPoints, OutlierMADs × MAD of the others).
	Median, Distance, Threshold string
}

// outliers judges each total of a panel against the others, exactly: the
// totals are decimal text (numeric(7,2)), and a total right at the
// threshold is not an outlier. Each total is left out of its own yardstick,
// so one wild score cannot widen the band that would catch it.
func outliers(totals []string) ([]judgement, error) {
	vals := make([]*big.Rat, len(totals))
	for i, t := range totals {
		r, ok := new(big.Rat).SetString(t)
		if !ok {
			return nil, fmt.Errorf("total %q is not a number", t)
		}
		vals[i] = r
	}
	out := make([]judgement, len(vals))
	if len(vals) < OutlierMinPanel {
		return out, nil
	}
	floor := big.NewRat(OutlierMinPoints, 1)
	for i, v := range vals {
		others := make([]*big.Rat, 0, len(vals)-1)
		for j, w := range vals {
			if j != i {
				others = append(others, w)
			}
		}
		m := median(others)
		devs := make([]*big.Rat, len(others))
		for j, w := range others {
			devs[j] = abs(new(big.Rat).Sub(w, m))
		}
		threshold := new(big.Rat).Mul(big.NewRat(OutlierMADs, 1), median(devs))
		if threshold.Cmp(floor) < 0 {
			threshold = floor
		}
		dist := abs(new(big.Rat).Sub(v, m))
		out[i] = judgement{Outlier: dist.Cmp(threshold) > 0,
			Median: m.FloatString(2), Distance: dist.FloatString(2), Threshold: threshold.FloatString(2)}
	}
	return out, nil
}

// median of a non-empty list: the middle value, or the mean of the two
// middle values.
func median(xs []*big.Rat) *big.Rat {
	s := append([]*big.Rat(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Cmp(s[j]) < 0 })
	n := len(s)
	if n%2 == 1 {
		return new(big.Rat).Set(s[n/2])
	}
	sum := new(big.Rat).Add(s[n/2-1], s[n/2])
	return sum.Quo(sum, big.NewRat(2, 1))
}

func abs(r *big.Rat) *big.Rat { return r.Abs(r) }
