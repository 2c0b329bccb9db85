package console

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"regexp"
	"strconv"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// PDFQRCodes finds the images of a PDF the console printed (8-bit grey
// PNG data, which fpdf stores as the PNG's own zlib stream), rebuilds
// each as a PNG and decodes the QR in it: what a scanner at the gate
// would read off the paper.
func PDFQRCodes(pdf []byte) ([]string, error) {
	var out []string
	hdr := regexp.MustCompile(`/Subtype /Image`)
	for _, loc := range hdr.FindAllIndex(pdf, -1) {
		rest := pdf[loc[0]:]
		si := bytes.Index(rest, []byte("stream\n"))
		if si < 0 {
			return nil, fmt.Errorf("image without stream")
		}
		dict := rest[:si]
		w, h := dictInt(dict, "Width"), dictInt(dict, "Height")
		n := dictInt(dict, "Length")
		if !bytes.Contains(dict, []byte("/DeviceGray")) || dictInt(dict, "BitsPerComponent") != 8 || w <= 0 || h <= 0 || n <= 0 {
			return nil, fmt.Errorf("unexpected image dictionary %q", dict)
		}
		data := rest[si+len("stream\n"):][:n]
		img, err := png.Decode(bytes.NewReader(greyPNG(w, h, data)))
		if err != nil {
			return nil, fmt.Errorf("rebuild the PNG: %w", err)
		}
		text, err := decodeQR(img)
		if err != nil {
			return nil, err
		}
		out = append(out, text)
	}
	return out, nil
}

func dictInt(dict []byte, key string) int {
	m := regexp.MustCompile(`/` + key + ` (\d+)`).FindSubmatch(dict)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// greyPNG is a PNG file of an 8-bit grey image whose IDAT data is idat.
func greyPNG(w, h int, idat []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte("\x89PNG\r\n\x1a\n"))
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8] = 8 // bit depth; colour type 0 (grey), compression, filter, interlace 0
	chunk("IHDR", ihdr)
	chunk("IDAT", idat)
	chunk("IEND", nil)
	return b.Bytes()
}

func decodeQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", fmt.Errorf("decode the QR: %w", err)
	}
	return res.GetText(), nil
}
