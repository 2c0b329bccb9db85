package ticket

import "testing"

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true}, {"north-1", true}, {"Zoë Müller 张三", true}, {"a b", true},
		{"a\x00b", false}, {"tab\t", false}, {"nl\n", false}, {"del\x7f", false},
		{"\xff", false}, {"a\xc3", false}, {"\xed\xa0\x80", false}, // a lone surrogate
		{"\u0085", false}, {"\u009f", false}, {"\ufffd", false},
	} {
		if got := CleanText(tc.s); got != tc.want {
			t.Errorf("CleanText(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
	if ValidCleanName("") || ValidCleanName("a\x00") || !ValidCleanName("gate-7") {
		t.Error("ValidCleanName")
	}
	if n := testing.AllocsPerRun(100, func() { CleanText("north-1:000123456789") }); n != 0 {
		t.Errorf("CleanText allocates %v times", n)
	}
}
