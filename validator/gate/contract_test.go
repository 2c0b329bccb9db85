package gate_test

import (
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/rules"
)

// The contract package spells the server's names out as constants so that
// clients need not link the state machine; these checks keep both equal.
func TestContractNamesMatchServer(t *testing.T) {
	for i, name := range gateapi.Reasons {
		if got := rules.Reason(i + 1).String(); got != name {
			t.Errorf("reason %d: server %q, gateapi %q", i+1, got, name)
		}
	}
	if got := rules.Reason(len(gateapi.Reasons) + 1).String(); !strings.HasPrefix(got, "reason(") {
		t.Errorf("the server has reason %q that gateapi lacks", got)
	}
	for i, name := range gateapi.Outcomes {
		if got := fsm.Outcome(i + 1).String(); got != name {
			t.Errorf("outcome %d: server %q, gateapi %q", i+1, got, name)
		}
	}
	if _, err := fsm.Outcome(len(gateapi.Outcomes) + 1).MarshalText(); err == nil {
		t.Error("the server has an outcome that gateapi lacks")
	}
	for _, d := range []string{gateapi.DirectionBoth, gateapi.DirectionIn, gateapi.DirectionOut} {
		if _, err := fsm.ParseDirection(d); err != nil {
			t.Errorf("direction %q: %v", d, err)
		}
	}
	for _, op := range []string{gateapi.OpSuspend, gateapi.OpResume, gateapi.OpExtend} {
		if _, err := fsm.ParseUpdateOp(op); err != nil {
			t.Errorf("update op %q: %v", op, err)
		}
	}
}
