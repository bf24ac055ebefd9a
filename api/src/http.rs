pub fn router(_s: AppState)->axum::Router{axum::Router::new()} pub struct AppState; impl AppState{pub fn new(_d: crate::db::Database)->Self{AppState}}
