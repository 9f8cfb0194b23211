fn main() {
    let known = silo_pii::KnownSet::new(&[silo_pii::KnownValue::new(
        silo_pii::PiiKind::Address,
        "742 Evergreen Terrace, Springfield, OR 97403",
    )])
    .unwrap();
    for t in [
        "at 742 Evergreen Terrace, Springfield, OR 97403.",
        "at 742 evergreen ter., springfield or 97403.",
        "at 742 Evergreen Terrace.",
        "at 742 EVERGREEN TER.",
    ] {
        for s in silo_pii::scan(t, &known).unwrap() {
            println!("{t:?}: {:?} {:?} {:?}", &t[s.start..s.end], s.kind, s.layer);
        }
    }
}
