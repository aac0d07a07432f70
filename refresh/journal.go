package refresh

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/imichat-exporter/imichat_exporter/internal/boundedfile"
)

// A journal keeps what a Quota spent in the last 24 hours in a small file,
// so that a restart (a crash loop, a rollout) does not spend the share
// again where the API sends no rate-limit headers to say what is left. It
// is written before the requests it counts are made: every reservation
// (what a refresh may spend) is in the file before the refresh starts, and
// the release that follows puts in what it did spend; a crash in between
// leaves the reservation counted, never less than was spent.
type journal struct {
	path   string
	origin string
	q      *Quota
	now    func() time.Time
	logger log.Logger

	mu     sync.Mutex // one write at a time, of the latest spend
	failed bool       // the last write failed: logged once until one succeeds
}

// journalFile is the file's content: the API tenant it counts for and its
// requests by Unix minute.
type journalFile struct {
	Origin  string           `json:"origin"`
	Minutes map[string]int64 `json:"minutes"`
}

// maxJournalBytes bounds a journal file: 1,440 minutes of counts.
const maxJournalBytes = 256 << 10

// JournalPath is the file, in dir, of the API tenant at origin (see
// config.Origin).
func JournalPath(dir, origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(dir, "quota-"+hex.EncodeToString(sum[:8])+".json")
}

// OpenJournal counts in q what the file of origin in dir says was spent in
// the last 24 hours, and from then on keeps the file up to date with q's
// spending. A missing file is a first start; an unreadable one is an error
// (the caller decides whether to run without it). now is the quota's
// clock; nil: time.Now.
func OpenJournal(dir, origin string, q *Quota, now func() time.Time, logger log.Logger) error {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	j := &journal{path: JournalPath(dir, origin), origin: origin, q: q, now: now, logger: logger}
	raw, err := boundedfile.Read(j.path, maxJournalBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("the quota's journal: %w", err)
	default:
		var f journalFile
		if err := json.Unmarshal(raw, &f); err != nil {
			return fmt.Errorf("the quota's journal %s: %w", j.path, err)
		}
		if f.Origin != origin {
			return fmt.Errorf("the quota's journal %s is %s's, not %s's", j.path, f.Origin, origin)
		}
		spent := make(map[int64]int64, len(f.Minutes))
		for k, v := range f.Minutes {
			m, err := strconv.ParseInt(k, 10, 64)
			if err != nil || v < 0 {
				return fmt.Errorf("the quota's journal %s: minute %q: %d requests", j.path, k, v)
			}
			spent[m] = v
		}
		q.restore(now(), spent)
	}
	q.setJournal(j.save)
	return nil
}

// save writes the quota's spend now, atomically (a temporary file renamed
// over the old one).
func (j *journal) save() {
	j.mu.Lock()
	defer j.mu.Unlock()
	spent := j.q.spent(j.now())
	f := journalFile{Origin: j.origin, Minutes: make(map[string]int64, len(spent))}
	for m, n := range spent {
		f.Minutes[strconv.FormatInt(m, 10)] = n
	}
	err := writeAtomically(j.path, f)
	switch {
	case err != nil && !j.failed:
		level.Warn(j.logger).Log("msg", "the quota's journal could not be written: a restart will not know what was spent", "err", err)
	case err == nil && j.failed:
		level.Info(j.logger).Log("msg", "the quota's journal is written again", "file", j.path)
	}
	j.failed = err != nil
}

func writeAtomically(path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: there is none
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
