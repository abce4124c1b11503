package pynba

// Reporter sends packets to Pinba servers. (Being written.)
type Reporter struct{}
