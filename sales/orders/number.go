package orders

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
	"time"
)

// channelLetter starts an order number.
var channelLetter = map[string]byte{
	ChannelWindow:      'W',
	ChannelKiosk:       'K',
	ChannelShop:        'S',
	ChannelDistributor: 'D',
}

// numberRe matches order numbers: W20261122-004711.
var numberRe = regexp.MustCompile(`^[WKSD][0-9]{8}-[0-9]{6}$`)

// newNumber makes an order number: the channel's letter, the park-local
// date of sale, and 6 random digits. Numbers are unique by the database;
// the caller retries on the rare collision (a million per channel and day).
func newNumber(channel string, now time.Time, loc *time.Location) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%c%s-%06d", channelLetter[channel], now.In(loc).Format("20060102"), n.Int64()), nil
}
