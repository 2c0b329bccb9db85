package gate_test

import "net/url"

func escape(s string) string { return url.PathEscape(s) }
