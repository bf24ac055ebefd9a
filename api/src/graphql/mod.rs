pub mod ids { pub fn parse_study_ref(s:&str)->Result<i64,String>{s.parse().map_err(|_|"x".to_string())} }
