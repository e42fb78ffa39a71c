package probe

import (
	"slices"
	"testing"
	"time"
)

func TestTraceMeasuresAndNotes(t *testing.T) {
	tr := NewTrace()
	if tr.Measures() != nil || tr.Notes() != nil {
		t.Fatalf("new trace: measures %v, notes %v; want none", tr.Measures(), tr.Notes())
	}
	if _, ok := tr.Measure("delivery"); ok {
		t.Fatal("Measure(delivery) on a new trace: ok, want not set")
	}
	tr.SetMeasure("delivery", 2*time.Second)
	tr.SetMeasure("other", time.Millisecond)
	tr.SetMeasure("delivery", 3*time.Second) // replaces, keeps its place
	want := []Measure{{"delivery", 3 * time.Second}, {"other", time.Millisecond}}
	if got := tr.Measures(); !slices.Equal(got, want) {
		t.Errorf("Measures() = %v, want %v", got, want)
	}
	if d, ok := tr.Measure("delivery"); !ok || d != 3*time.Second {
		t.Errorf("Measure(delivery) = %s, %v; want 3s, true", d, ok)
	}
	got := tr.Measures()
	got[0].Duration = 0 // a copy: the trace must not change
	if d, _ := tr.Measure("delivery"); d != 3*time.Second {
		t.Errorf("changing Measures()'s result changed the trace: %s", d)
	}

	tr.SetNote("queue_id", "4ABC")
	tr.SetNote("duplicates", "1")
	tr.SetNote("queue_id", "5DEF")
	wantNotes := []Note{{"queue_id", "5DEF"}, {"duplicates", "1"}}
	if got := tr.Notes(); !slices.Equal(got, wantNotes) {
		t.Errorf("Notes() = %v, want %v", got, wantNotes)
	}
}
