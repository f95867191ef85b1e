package codec

// Format flags, for tests that craft blobs.
const (
	FlagZstd      = flagZstd
	FlagPadded    = flagPadded
	FlagEncrypted = flagEncrypted
)

// SealRaw builds a blob around inner exactly as Encode would after
// compression and padding: the pipeline's header with extra flags set, then
// inner encrypted with the newest key (with a keyring) or followed by the
// checksum (without).
func (p *Pipeline) SealRaw(flags byte, inner, aad []byte) []byte {
	hl := len(p.hdr)
	out := make([]byte, hl, hl+len(inner)+tagSize+crcSize)
	copy(out, p.hdr)
	out[2] |= flags
	out = append(out, inner...)
	if p.keyring == nil {
		return appendCRC(out)
	}
	return p.seal(out, hl, aad)
}
