package transfer

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/sessionkit/session/codec"
)

// SecretUsers returns a UserFunc (see CodecUsers) for an application whose
// session manager is configured with session.WithSecret and no keyring of
// its own: it derives the store encryption keys from secrets (newest
// first, as given to WithSecret) the way the manager does. An application
// configured with session.WithKeyring uses CodecUsers with that keyring.
func SecretUsers(secrets ...[]byte) (UserFunc, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("transfer: SecretUsers: no secret")
	}
	keys := make([]codec.Key, 0, len(secrets))
	for i, s := range secrets {
		k, err := codec.DeriveKey(s, "sessionkit store encryption")
		if err != nil {
			return nil, fmt.Errorf("transfer: SecretUsers: secret %d: %w", i, err)
		}
		sum := sha256.Sum256(k)
		keys = append(keys, codec.Key{ID: binary.BigEndian.Uint32(sum[:4]), Secret: k})
	}
	kr, err := codec.NewKeyring(codec.AESGCM, keys...)
	if err != nil {
		return nil, fmt.Errorf("transfer: SecretUsers: %w", err)
	}
	p, err := codec.New(codec.WithKeyring(kr))
	if err != nil {
		return nil, fmt.Errorf("transfer: SecretUsers: %w", err)
	}
	return CodecUsers(p), nil
}
