package changeset

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/session/backends"
)

// deleteExpiry is an expiry in the past: a Save with it deletes the record
// if, and only if, the version matches (see backends.Store).
var deleteExpiry = time.Unix(1, 0)

// Renew replaces the record at oldKey (at version oldVersion; 0: oldKey
// must not exist) by blob at newKey, and moves userID's index entry, as
// backends.Renewer describes: with st's Renew when it has one, otherwise
// step by step, as safely. The step-wise renewal creates newKey, then
// deletes oldKey only if it is still at oldVersion (a compare-and-set
// delete) and removes newKey again when that fails: a logout or a write
// that reached oldKey in between makes the renewal a conflict, never a
// revival. A store without a user index gets no index changes.
func Renew(ctx context.Context, st backends.Store, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	if rn, ok := st.(backends.Renewer); ok {
		return rn.Renew(ctx, oldKey, oldVersion, newKey, blob, expiry, userID, deadline)
	}
	if oldKey == newKey {
		return fmt.Errorf("%w: old and new key are the same", backends.ErrConflict)
	}
	if _, err := st.Save(ctx, newKey, blob, expiry, 0); err != nil {
		return err
	}
	var err error
	if oldVersion == 0 {
		var found bool
		_, found, err = st.Load(ctx, oldKey)
		if err == nil && found {
			err = fmt.Errorf("%w: the old record exists", backends.ErrConflict)
		}
	} else {
		_, err = st.Save(ctx, oldKey, nil, deleteExpiry, oldVersion)
	}
	if errors.Is(err, backends.ErrOutcomeUnknown) {
		// The old record may be deleted already: newKey holds the session
		// and must stay. The caller reconciles (see ErrOutcomeUnknown).
		return err
	}
	if err != nil {
		// Roll back: the session stays where it was.
		if derr := st.Delete(context.WithoutCancel(ctx), newKey); derr != nil {
			return errors.Join(err, fmt.Errorf("rolling back the renewal: %w", derr))
		}
		return err
	}
	ui, ok := st.(backends.UserIndex)
	if !ok || userID == "" {
		return nil
	}
	if err := ui.RemoveUserKey(ctx, userID, oldKey); err != nil {
		return err
	}
	return ui.AddUserKey(ctx, userID, newKey, deadline)
}
