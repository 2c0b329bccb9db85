// Package shift owns cashier shifts (收银班次): a cashier opens a shift at
// their sales point with an opening float, every cash payment, refund paid
// out and reprint at the window names the shift it happened in, and the
// cashier closes it with the cash counted per payment method. Closing
// freezes the shift report (expected against counted per method, the
// difference, tickets sold, refunded and reprinted, orders voided) in the
// shift row; finance or an admin then confirms it.
//
// # Invariants
//
//   - A cashier has at most one open shift (a partial unique index).
//   - Money lands only in an open shift. A sale or payout locks its shift
//     row FOR SHARE (Attach) in the transaction that writes the money row;
//     Close locks it FOR UPDATE, sums the rows and marks it closed in one
//     transaction. So a close waits for every sale already holding the
//     shift, and a sale that comes after the close re-reads the row, finds
//     it closed and is refused (409 no_open_shift): the frozen report is
//     the sum of exactly the rows that name the shift.
//   - Window sales without an open shift are refused unless the setting
//     "shifts" ({"required": false}) turns that off (Settings).
//   - A shift open longer than the setting's max_open_minutes is overdue:
//     reports flag it and the gauge admit_sales_shifts_overdue counts it.
//
// Expected money per method: the opening float (cash only) plus the
// payments taken in the shift, minus the refunds paid out in it. Card and
// wallet payments are taken on the window's own terminals (the payment
// names the terminal's reference) and refunds of them are paid back on
// the same terminal, so each has its line, counted at close from the
// terminal's total. Online
// (provider) payments do not pass through the drawer and belong to no
// shift; a provider refund a cashier asks for counts among the shift's
// refunded tickets, not its money.
package shift
