package demo

import (
	"fmt"
	"strings"
)

// yunyang is the administrative division code of 云阳县 (GB/T 2260), the
// place of registration in credit codes and of birth in resident IDs.
const yunyang = "500235"

// orgCodeChars are the characters of an organisation code (GB 11714) in the
// order of their values: digits, then letters from 10.
const orgCodeChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// creditChars are those of a unified social credit code (GB 32100), in the
// order of their values: no I, O, S, V or Z.
const creditChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditCode makes a 统一社会信用代码: the registering authority and kind
// (91 an enterprise, 12 a public institution, 93 a farmers' co-operative,
// 11 an organ of government), Yunyang, the organisation code body completed
// with its check character, and the code's own check character.
func creditCode(kind, orgBody string) string {
	body := kind + yunyang + orgBody + string(orgCodeCheck(orgBody))
	return body + string(creditCheck(body))
}

// orgCodeCheck is the GB 11714 check character of an organisation code's
// first eight.
func orgCodeCheck(body string) byte {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range weights {
		sum += strings.IndexByte(orgCodeChars, body[i]) * weights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

// creditCheck is the GB 32100 check character of a credit code's first 17.
func creditCheck(body string) byte {
	weights := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i := range weights {
		sum += strings.IndexByte(creditChars, body[i]) * weights[i]
	}
	return creditChars[(31-sum%31)%31]
}

// residentID makes a 居民身份证号码 of someone born in Yunyang on born
// (YYYYMMDD): the order number's last digit is odd for a man and even for a
// woman, and the last character is the GB 11643 check.
func residentID(born string, serial int, male bool) string {
	order := serial*2 + 2
	if male {
		order--
	}
	body := fmt.Sprintf("%s%s%03d", yunyang, born, order%1000)
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range weights {
		sum += int(body[i]-'0') * weights[i]
	}
	return body + string("10X98765432"[sum%11])
}

// mobile makes the n-th demo mobile number: a real carrier prefix and the
// digits 2355 of Yunyang's landlines, so it reads as local.
func mobile(n int) string {
	prefixes := []int{138, 139, 158, 187, 135, 199, 177, 150}
	return fmt.Sprintf("%d2355%04d", prefixes[n%len(prefixes)], (n*7919+1237)%10000)
}
